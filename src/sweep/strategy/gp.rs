//! Gaussian-process search (`sampler: gp`), GuildAI's default optimiser: a GP on the trials'
//! values with a Matérn 5/2 kernel and one length scale per dimension, its hyperparameters
//! (length scales, signal variance, noise) fitted by maximising the log marginal likelihood
//! (Adam on libtorch's autograd, from the same start every time, on one thread so that the
//! same results give the same fit), and the point of largest log expected improvement among
//! candidates suggested, refined by a local ascent of log EI (Adam on its gradient, from the 5
//! best candidates, the float columns only: 30 steps) where that improves it. Without the
//! ascent, the best of 2,500 candidates could not place a point close to an optimum: Optuna's
//! GPSampler, which refines with L-BFGS-B, reached 89× lower regret on Hartmann6 after 100
//! trials (docs/benchmarks.md).
//!
//! The space is the unit cube: a float by its position between the bounds (on the log
//! scale for `loguniform`), an integer likewise at its integer positions only, a list one
//! column per value (one-hot). Candidates are valid points only (integers on their grid, one
//! value per list): 2,000 uniform ones and 100 around each of the 5 best trials.
//!
//! Values are standardised; trials stopped early count as the worst completed value. Trials
//! in flight are believed (the Kriging believer, Ginsbourger et al. 2010): the GP fitted to
//! the results told is given each in-flight point at its own posterior mean, with the same
//! hyperparameters, so its mean is unchanged while its uncertainty there (and so the expected
//! improvement near it) falls; the same in-flight set gives the same suggestion. (The constant
//! liar at the worst value, tried first, put spikes where the search was converging: at q = 4
//! its median regret on Branin after 100 trials was 227 times q = 1's.) With fewer than 2
//! completed trials the trial is random search's draw.

use super::random::{round_sig, Dist};
use super::search::{Ask, Point, RandomSampler, Sampler, Score};
use rand::{Rng, SeedableRng};
use serde_yaml::Value;
use tch::{nn, nn::OptimizerConfig, Device, Kind, Tensor};

/// Uniform candidates per suggestion, and candidates around each of the best trials.
const UNIFORM: usize = 2000;
const LOCAL: usize = 100;
const LOCAL_AROUND: usize = 5;
/// The best candidates a local ascent of log EI starts from, its Adam steps and rate.
const REFINE: usize = 5;
const ASCENT_STEPS: usize = 30;
const ASCENT_LR: f64 = 0.01;
/// Adam steps of the hyperparameter fit, and its learning rate.
const FIT_STEPS: usize = 150;
const FIT_LR: f64 = 0.05;

pub struct Gp;

impl Sampler for Gp {
    fn suggest(&self, ask: &Ask) -> Point {
        let cube = Cube::new(ask.space);
        let completed: Vec<(Vec<f64>, f64)> = ask
            .told
            .iter()
            .filter_map(|t| match t.score {
                Score::Completed(v) => Some((cube.encode(&t.point), v)),
                Score::Stopped { .. } => None,
            })
            .collect();
        if completed.len() < 2 {
            return RandomSampler.suggest(ask);
        }
        let worst = completed.iter().map(|c| c.1).fold(f64::MIN, f64::max);
        let mut xs: Vec<Vec<f64>> = completed.iter().map(|c| c.0.clone()).collect();
        let mut ys: Vec<f64> = completed.iter().map(|c| c.1).collect();
        let stopped = ask
            .told
            .iter()
            .filter(|t| matches!(t.score, Score::Stopped { .. }))
            .map(|t| &t.point);
        for p in stopped {
            xs.push(cube.encode(p));
            ys.push(worst);
        }
        let pending: Vec<Vec<f64>> = ask.pending.iter().map(|p| cube.encode(p)).collect();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(ask.stream("gp"));
        let mut best: Vec<(f64, &Vec<f64>)> = completed.iter().map(|c| (c.1, &c.0)).collect();
        best.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut cands: Vec<Vec<f64>> = (0..UNIFORM).map(|_| cube.uniform(&mut rng)).collect();
        for (_, x) in best.iter().take(LOCAL_AROUND) {
            cands.extend((0..LOCAL).map(|_| cube.near(x, &mut rng)));
        }
        let threads = tch::get_num_threads();
        tch::set_num_threads(1);
        let observed: Vec<f64> = ys.iter().take(completed.len()).copied().collect();
        let picked = Fitted::fit(&xs, &ys)
            .and_then(|gp| gp.believing(&pending))
            .map(|gp| {
                let scores = gp.log_ei(&cands, observed.iter().copied());
                gp.refined(&cube.float_mask(), &cands, &scores, &observed)
            });
        tch::set_num_threads(threads);
        // A GP that cannot be fitted (values no kernel matrix can hold) suggests what random
        // search would: a valid point, never a panic.
        match picked {
            Some(x) => cube.decode(&x),
            None => RandomSampler.suggest(ask),
        }
    }

    fn check_space(&self, space: &[(String, Dist)]) -> Result<(), String> {
        match space.iter().find_map(|(n, d)| match d {
            Dist::Choice(v) if v.len() > MAX_LIST => Some((n, v.len())),
            _ => None,
        }) {
            Some((name, len)) => Err(format!(
                "{name}: a list of {len} values; the GP encodes a list as one column per value, at most {MAX_LIST}: write a range of integers as randint(low, high), or use sampler: tpe"
            )),
            None => Ok(()),
        }
    }
}

/// The most values a list of a GP's space may hold (each is a column of the cube).
const MAX_LIST: usize = 256;
/// Candidates × trials × columns above which the kernel is computed in slices of candidates
/// (so that memory stays bounded; below it, in one piece as before).
const KERNEL_ELEMENTS: usize = 1 << 24;

/// The space as the unit cube (see the module's documentation).
pub struct Cube<'a> {
    space: &'a [(String, Dist)],
}

impl<'a> Cube<'a> {
    pub fn new(space: &'a [(String, Dist)]) -> Cube<'a> {
        Cube { space }
    }

    pub fn encode(&self, p: &[(String, Value)]) -> Vec<f64> {
        let mut out = Vec::new();
        for (name, d) in self.space {
            let v = p
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v)
                .expect("a told point has every searched flag");
            match d {
                Dist::Uniform(a, b) => out.push(unit(v.as_f64().unwrap_or(*a), *a, *b)),
                Dist::LogUniform(a, b) => {
                    out.push(unit(v.as_f64().unwrap_or(*a).ln(), a.ln(), b.ln()))
                }
                Dist::RandInt(a, b) => out.push(unit(v.as_f64().unwrap_or(0.0), *a as f64, *b as f64)),
                Dist::Choice(values) => {
                    let k = values.iter().position(|c| c == v).unwrap_or(0);
                    out.extend(one_hot(k, values.len()));
                }
            }
        }
        out
    }

    pub fn decode(&self, x: &[f64]) -> Point {
        let mut at = 0;
        self.space
            .iter()
            .map(|(name, d)| {
                let v = match d {
                    Dist::Uniform(a, b) => Value::from(round_sig(a + x[at] * (b - a), 4).clamp(*a, *b)),
                    Dist::LogUniform(a, b) => {
                        let v = (a.ln() + x[at] * (b.ln() - a.ln())).exp();
                        Value::from(round_sig(v, 4).clamp(*a, *b))
                    }
                    Dist::RandInt(a, b) => {
                        let v = (*a as f64 + x[at] * (b - a) as f64).round() as i64;
                        Value::from(v.clamp(*a, *b))
                    }
                    Dist::Choice(values) => {
                        let cols = &x[at..at + values.len()];
                        let k = (0..values.len())
                            .fold(0, |best, j| if cols[j] > cols[best] { j } else { best });
                        at += values.len() - 1;
                        values[k].clone()
                    }
                };
                at += 1;
                (name.clone(), v)
            })
            .collect()
    }

    /// 1 for each column a float takes (it may move continuously), 0 for integers and lists.
    fn float_mask(&self) -> Vec<f64> {
        self.space
            .iter()
            .flat_map(|(_, d)| match d {
                Dist::Uniform(..) | Dist::LogUniform(..) => vec![1.0],
                Dist::RandInt(..) => vec![0.0],
                Dist::Choice(values) => vec![0.0; values.len()],
            })
            .collect()
    }

    /// A uniform valid point.
    fn uniform(&self, rng: &mut impl Rng) -> Vec<f64> {
        let mut out = Vec::new();
        for (_, d) in self.space {
            match d {
                Dist::Uniform(..) | Dist::LogUniform(..) => out.push(rng.random::<f64>()),
                Dist::RandInt(a, b) => {
                    out.push(unit(rng.random_range(*a..=*b) as f64, *a as f64, *b as f64))
                }
                Dist::Choice(values) => {
                    let k = rng.random_range(0..values.len());
                    out.extend(one_hot(k, values.len()));
                }
            }
        }
        out
    }

    /// A valid point near `x`: each number moved by N(0, 0.1) within the cube (integers
    /// snapped), each list's value changed with probability 0.2.
    fn near(&self, x: &[f64], rng: &mut impl Rng) -> Vec<f64> {
        let mut out = Vec::new();
        let mut at = 0;
        for (_, d) in self.space {
            let z: f64 = rand_distr::Distribution::sample(&rand_distr::StandardNormal, rng);
            let step = 0.1 * z;
            match d {
                Dist::Uniform(..) | Dist::LogUniform(..) => {
                    out.push((x[at] + step).clamp(0.0, 1.0));
                    at += 1;
                }
                Dist::RandInt(a, b) => {
                    let (lo, hi) = (*a as f64, *b as f64);
                    let v = (lo + (x[at] + step).clamp(0.0, 1.0) * (hi - lo)).round();
                    out.push(unit(v, lo, hi));
                    at += 1;
                }
                Dist::Choice(values) => {
                    let n = values.len();
                    let mut cols = x[at..at + n].to_vec();
                    if rng.random::<f64>() < 0.2 {
                        let k = rng.random_range(0..n);
                        cols = one_hot(k, n);
                    }
                    out.extend(cols);
                    at += n;
                }
            }
        }
        out
    }
}

/// Value `k` of `n` as one-hot columns.
fn one_hot(k: usize, n: usize) -> Vec<f64> {
    (0..n).map(|j| f64::from(u8::from(j == k))).collect()
}

/// `v`'s position between `lo` and `hi` (the middle when they are equal).
fn unit(v: f64, lo: f64, hi: f64) -> f64 {
    if hi > lo {
        ((v - lo) / (hi - lo)).clamp(0.0, 1.0)
    } else {
        0.5
    }
}

/// The GP's hyperparameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Hyper {
    pub lengthscales: Vec<f64>,
    pub signal: f64,
    pub noise: f64,
}

/// A GP fitted to standardised values.
pub struct Fitted {
    x: Tensor,
    /// The standardised values of `x`'s rows.
    y: Tensor,
    /// The values' mean and standard deviation (standardisation), in units of `scale`.
    mean: f64,
    std: f64,
    /// A power of two the values are divided by first, so that extreme values (1e308)
    /// standardise without overflowing (1 for every ordinary scale).
    scale: f64,
    pub hyper: Hyper,
    chol: Tensor,
    alpha: Tensor,
}

fn tensor2(rows: &[Vec<f64>]) -> Tensor {
    Tensor::from_slice2(rows).to_kind(Kind::Double)
}

/// The Matérn 5/2 kernel between the rows of `a` and `b` with one length scale per column.
fn matern52(a: &Tensor, b: &Tensor, ls: &Tensor, signal: &Tensor) -> Tensor {
    let d2 = (a.unsqueeze(1) - b.unsqueeze(0))
        .divide(ls)
        .square()
        .sum_dim_intlist(-1, false, Kind::Double);
    let r = (d2 + 1e-12).sqrt();
    let s5r = r * 5f64.sqrt();
    signal * (s5r.square() / 3.0 + &s5r + 1.0) * (-s5r).exp()
}

/// Bounds of the hyperparameters: a sigmoid maps the fitted values into them.
const LS: (f64, f64) = (0.01, 10.0);
const SIGNAL: (f64, f64) = (0.05, 20.0);
const NOISE: (f64, f64) = (1e-6, 0.5);

fn bounded(theta: &Tensor, (lo, hi): (f64, f64)) -> Tensor {
    theta.sigmoid() * (hi - lo) + lo
}

fn unbounded(v: f64, (lo, hi): (f64, f64)) -> f64 {
    let p = ((v - lo) / (hi - lo)).clamp(1e-6, 1.0 - 1e-6);
    (p / (1.0 - p)).ln()
}

impl Fitted {
    /// Fits the hyperparameters to `(xs, ys)` by maximising the log marginal likelihood.
    /// The GP fitted to `(xs, ys)`; `None` when no kernel matrix can be factorised (values
    /// or hyperparameters that are not finite).
    pub fn fit(xs: &[Vec<f64>], ys: &[f64]) -> Option<Fitted> {
        let d = xs[0].len();
        let mut vs = nn::VarStore::new(Device::Cpu);
        vs.set_kind(Kind::Double);
        let root = vs.root();
        let init = |v: f64, b| Tensor::from_slice(&vec![unbounded(v, b); d]).to_kind(Kind::Double);
        let t_ls = root.var_copy("ls", &init(0.5, LS));
        let t_sig = root.var_copy("signal", &init(1.0, SIGNAL).narrow(0, 0, 1));
        let t_noise = root.var_copy("noise", &init(1e-2, NOISE).narrow(0, 0, 1));
        let mut opt = nn::Adam::default().build(&vs, FIT_LR).expect("an optimiser");
        let st = standardised(xs, ys);
        for _ in 0..FIT_STEPS {
            let h = (bounded(&t_ls, LS), bounded(&t_sig, SIGNAL), bounded(&t_noise, NOISE));
            let Some(nll) = neg_log_likelihood(&st.x, &st.y, &h.0, &h.1, &h.2) else {
                break;
            };
            if !nll.double_value(&[]).is_finite() {
                break;
            }
            opt.backward_step(&nll);
        }
        let hyper = tch::no_grad(|| Hyper {
            lengthscales: Vec::<f64>::try_from(&bounded(&t_ls, LS)).expect("f64"),
            signal: bounded(&t_sig, SIGNAL).double_value(&[0]),
            noise: bounded(&t_noise, NOISE).double_value(&[0]),
        });
        let finite = hyper.lengthscales.iter().all(|v| v.is_finite())
            && hyper.signal.is_finite()
            && hyper.noise.is_finite();
        // A fit that went astray falls back to the start's hyperparameters.
        let hyper = if finite {
            hyper
        } else {
            Hyper {
                lengthscales: vec![0.5; d],
                signal: 1.0,
                noise: 1e-2,
            }
        };
        tch::no_grad(|| Fitted::with(st, hyper))
    }

    /// The GP of the standardised values with fixed hyperparameters.
    fn with(st: Standardised, hyper: Hyper) -> Option<Fitted> {
        let (ls, sig) = hyper_tensors(&hyper);
        let n = st.x.size()[0];
        let k = matern52(&st.x, &st.x, &ls, &sig)
            + Tensor::eye(n, (Kind::Double, Device::Cpu)) * (hyper.noise + 1e-8);
        let chol = cholesky(&k)?;
        let alpha = st.y.unsqueeze(1).cholesky_solve(&chol, false);
        Some(Fitted {
            x: st.x,
            y: st.y,
            mean: st.mean,
            std: st.std,
            scale: st.scale,
            hyper,
            chol,
            alpha,
        })
    }

    /// This GP given `points` at its own posterior mean, with the same hyperparameters and
    /// standardisation (the Kriging believer): the mean is unchanged, the uncertainty at and
    /// near the points falls.
    pub fn believing(self, points: &[Vec<f64>]) -> Option<Fitted> {
        if points.is_empty() {
            return Some(self);
        }
        let (mu, _) = self.predict_std(points);
        tch::no_grad(|| {
            let st = Standardised {
                x: Tensor::cat(&[&self.x, &tensor2(points)], 0),
                y: Tensor::cat(&[&self.y, &mu], 0),
                mean: self.mean,
                std: self.std,
                scale: self.scale,
            };
            Fitted::with(st, self.hyper.clone())
        })
    }

    /// Fixed hyperparameters (for tests against an independent computation).
    pub fn fixed(xs: &[Vec<f64>], ys: &[f64], hyper: Hyper) -> Fitted {
        tch::no_grad(|| Fitted::with(standardised(xs, ys), hyper)).expect("a factorisable kernel")
    }

    /// The posterior mean and standard deviation at `cands`, in the values' units.
    pub fn predict(&self, cands: &[Vec<f64>]) -> (Vec<f64>, Vec<f64>) {
        let (mu, sd) = self.predict_std(cands);
        let mu = Vec::<f64>::try_from(&((mu * self.std + self.mean) * self.scale)).expect("f64");
        let sd = Vec::<f64>::try_from(&(sd * self.std * self.scale)).expect("f64");
        (mu, sd)
    }

    fn predict_std(&self, cands: &[Vec<f64>]) -> (Tensor, Tensor) {
        let per_cand = (self.x.size()[0] * self.x.size()[1]).max(1) as usize;
        let slice = (KERNEL_ELEMENTS / per_cand).max(1);
        if cands.len() <= slice {
            return self.predict_slice(cands);
        }
        // In slices of candidates: memory bounded whatever the trials and columns.
        let parts: Vec<(Tensor, Tensor)> =
            cands.chunks(slice).map(|c| self.predict_slice(c)).collect();
        let mus: Vec<&Tensor> = parts.iter().map(|p| &p.0).collect();
        let sds: Vec<&Tensor> = parts.iter().map(|p| &p.1).collect();
        (Tensor::cat(&mus, 0), Tensor::cat(&sds, 0))
    }

    fn predict_slice(&self, cands: &[Vec<f64>]) -> (Tensor, Tensor) {
        tch::no_grad(|| self.posterior(&tensor2(cands)))
    }

    /// The standardised posterior mean and standard deviation at the rows of `c`
    /// (differentiable in `c` outside `no_grad`).
    fn posterior(&self, c: &Tensor) -> (Tensor, Tensor) {
        let (ls, sig) = hyper_tensors(&self.hyper);
        let ks = matern52(c, &self.x, &ls, &sig);
        let mu = ks.matmul(&self.alpha).squeeze_dim(1);
        let v = self
            .chol
            .linalg_solve_triangular(&ks.transpose(0, 1), false, true, false);
        let var = (v.square().sum_dim_intlist(0, false, Kind::Double) * -1.0 + self.hyper.signal)
            .clamp_min(1e-12);
        (mu, var.sqrt())
    }

    /// The point to suggest: the candidate of largest log EI, then a local ascent of log EI
    /// from the [`REFINE`] best candidates (Adam on its gradient, the float columns only, within
    /// the cube, [`ASCENT_STEPS`] steps); an ascended point replaces the best candidate only
    /// where its log EI is larger.
    fn refined(&self, mask: &[f64], cands: &[Vec<f64>], scores: &[f64], observed: &[f64]) -> Vec<f64> {
        let mut pick = 0;
        for (i, s) in scores.iter().enumerate() {
            if *s > scores[pick] || scores[pick].is_nan() {
                pick = i;
            }
        }
        let mut order: Vec<usize> = (0..cands.len()).filter(|i| scores[*i].is_finite()).collect();
        order.sort_by(|a, b| scores[*b].total_cmp(&scores[*a]).then(a.cmp(b)));
        order.truncate(REFINE);
        if order.is_empty() || !mask.contains(&1.0) {
            return cands[pick].clone();
        }
        let starts: Vec<Vec<f64>> = order.iter().map(|i| cands[*i].clone()).collect();
        let ascended = self.ascend(&starts, mask, observed);
        let after = self.log_ei(&ascended, observed.iter().copied());
        let mut best = (scores[pick], cands[pick].clone());
        for (x, s) in ascended.into_iter().zip(after) {
            if s > best.0 {
                best = (s, x);
            }
        }
        best.1
    }

    /// Gradient ascent of log EI from `starts` (Adam, lr [`ASCENT_LR`]), moving the columns
    /// `mask` marks and clamping to the cube; a non-finite gradient moves nothing.
    fn ascend(&self, starts: &[Vec<f64>], mask: &[f64], observed: &[f64]) -> Vec<Vec<f64>> {
        let best = self.standardised_best(observed.iter().copied());
        let mask = Tensor::from_slice(mask).to_kind(Kind::Double);
        let mut x = tensor2(starts);
        let (mut m, mut v) = (x.zeros_like(), x.zeros_like());
        let (b1, b2) = (0.9f64, 0.999f64);
        for t in 1..=ASCENT_STEPS {
            let xg = x.detach().set_requires_grad(true);
            let objective = self.log_ei_at(&xg, best).sum(Kind::Double);
            let g = Tensor::run_backward(&[objective], &[&xg], false, false)
                .pop()
                .expect("a gradient");
            let g = tch::no_grad(|| g.nan_to_num(0.0, 0.0, 0.0) * &mask);
            (x, m, v) = tch::no_grad(|| {
                let m = &m * b1 + &g * (1.0 - b1);
                let v = &v * b2 + g.square() * (1.0 - b2);
                let mhat = &m / (1.0 - b1.powi(t as i32));
                let vhat = &v / (1.0 - b2.powi(t as i32));
                let step = mhat / (vhat.sqrt() + 1e-8) * ASCENT_LR;
                ((&x + step).clamp(0.0, 1.0), m, v)
            });
        }
        Vec::<Vec<f64>>::try_from(&x).unwrap_or_else(|_| starts.to_vec())
    }

    /// Log EI at the rows of `c` over the standardised `best`, differentiable in `c`.
    fn log_ei_at(&self, c: &Tensor, best: f64) -> Tensor {
        let (mu, sd) = self.posterior(c);
        log_ei_of(mu, &sd, best)
    }

    /// The best of `observed` in the standardised units of the fit.
    fn standardised_best(&self, observed: impl Iterator<Item = f64>) -> f64 {
        let best = observed.fold(f64::MAX, f64::min);
        (best / self.scale - self.mean) / self.std
    }

    /// Log expected improvement (minimising) over the best of `observed` at each candidate.
    pub fn log_ei(&self, cands: &[Vec<f64>], observed: impl Iterator<Item = f64>) -> Vec<f64> {
        let best = self.standardised_best(observed);
        let (mu, sd) = self.predict_std(cands);
        Vec::<f64>::try_from(&log_ei_of(mu, &sd, best)).expect("f64")
    }
}

/// Log EI (minimising) of a posterior (mean, sd) over `best`, all standardised.
fn log_ei_of(mu: Tensor, sd: &Tensor, best: f64) -> Tensor {
    let z = (mu * -1.0 + best) / sd;
    log_h(&z) + sd.log()
}

fn hyper_tensors(h: &Hyper) -> (Tensor, Tensor) {
    (
        Tensor::from_slice(&h.lengthscales).to_kind(Kind::Double),
        Tensor::from_slice(&[h.signal]).to_kind(Kind::Double),
    )
}

/// The points and their standardised values.
struct Standardised {
    x: Tensor,
    y: Tensor,
    mean: f64,
    std: f64,
    scale: f64,
}

fn standardised(xs: &[Vec<f64>], ys: &[f64]) -> Standardised {
    // Values beyond 1e100 (or all below 1e-100) are first divided by a power of two near
    // their largest magnitude (exact), so that sums of squares cannot overflow.
    let top = ys.iter().fold(0.0f64, |m, y| m.max(y.abs()));
    let scale = if top > 1e100 || (top > 0.0 && top < 1e-100) {
        2f64.powi(top.log2().floor() as i32)
    } else {
        1.0
    };
    let ys: Vec<f64> = ys.iter().map(|y| y / scale).collect();
    let n = ys.len() as f64;
    let mean = ys.iter().sum::<f64>() / n;
    let var = ys.iter().map(|y| (y - mean).powi(2)).sum::<f64>() / n;
    let std = if var > 0.0 && var.is_finite() {
        var.sqrt()
    } else {
        1.0
    };
    let y: Vec<f64> = ys.iter().map(|v| (v - mean) / std).collect();
    Standardised {
        x: tensor2(xs),
        y: Tensor::from_slice(&y),
        mean,
        std,
        scale,
    }
}

/// The Cholesky factor of `k`, with jitter added to its diagonal when it is not numerically
/// positive definite; `None` when even the largest jitter fails (values not finite).
fn cholesky(k: &Tensor) -> Option<Tensor> {
    let n = k.size()[0];
    for jitter in [0.0, 1e-6, 1e-4, 1e-2, 1.0] {
        let kj = if jitter > 0.0 {
            k + Tensor::eye(n, (Kind::Double, Device::Cpu)) * jitter
        } else {
            k.shallow_clone()
        };
        if let Ok(l) = kj.f_linalg_cholesky(false) {
            if l.isfinite().all().int64_value(&[]) == 1 {
                return Some(l);
            }
        }
    }
    None
}

/// The negative log marginal likelihood of `y` under the GP.
fn neg_log_likelihood(
    x: &Tensor,
    y: &Tensor,
    ls: &Tensor,
    sig: &Tensor,
    noise: &Tensor,
) -> Option<Tensor> {
    let n = x.size()[0];
    let k = matern52(x, x, ls, sig)
        + Tensor::eye(n, (Kind::Double, Device::Cpu)) * (noise + 1e-8);
    let l = k.f_linalg_cholesky(false).ok()?;
    let alpha = y.unsqueeze(1).cholesky_solve(&l, false);
    let fit = (y.unsqueeze(1) * alpha).sum(Kind::Double) * 0.5;
    let det = l.diagonal(0, 0, 1).log().sum(Kind::Double);
    Some(fit + det + 0.5 * n as f64 * (2.0 * std::f64::consts::PI).ln())
}

/// `log(phi(z) + z Phi(z))`, accurate for very negative z (BoTorch's formulation: through
/// erfcx where the two terms cancel).
pub fn log_h(z: &Tensor) -> Tensor {
    let c1 = 0.5 * (2.0 * std::f64::consts::PI).ln();
    let c2 = 0.5 * (std::f64::consts::PI / 2.0).ln();
    let direct = {
        let zc = z.clamp_min(-1.0);
        let pdf = (zc.square() * -0.5).exp() / (2.0 * std::f64::consts::PI).sqrt();
        let cdf = ((&zc / std::f64::consts::SQRT_2).erf() + 1.0) * 0.5;
        (pdf + &zc * cdf).log()
    };
    let tail = {
        let zc = z.clamp_max(-1.0);
        let x = ((&zc * -1.0 / std::f64::consts::SQRT_2).special_erfcx() * zc.abs()).log() + c2;
        // log(1 - exp(x)) for x < 0
        let log1mexp = (x.expm1() * -1.0).log();
        zc.square() * -0.5 - c1 + log1mexp
    };
    direct.where_self(&z.gt(-1.0), &tail)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// log(phi(z) + z Phi(z)) from mpmath at 50 digits, never from this code.
    #[test]
    #[allow(clippy::excessive_precision)] // mpmath's digits, as printed
    fn log_h_matches_mpmath_into_the_far_tail() {
        let cases = [
            (3.0, 1.0987396653277078),
            (0.5, -0.35982768374506382),
            (0.0, -0.91893853320467274),
            (-0.5, -1.6205162643873199),
            (-0.999, -2.4832171154475854),
            (-1.0, -2.4851210257126413),
            (-2.0, -4.7687835239171142),
            (-5.0, -16.74430116266099),
            (-10.0, -55.553122036122356),
            (-30.0, -457.724653760598),
            (-100.0, -5010.1295788002498),
        ];
        let z = Tensor::from_slice(&cases.map(|c| c.0)).to_kind(Kind::Double);
        let got = Vec::<f64>::try_from(&log_h(&z)).unwrap();
        for ((z, want), g) in cases.iter().zip(got) {
            assert!((g - want).abs() < 1e-9 * want.abs().max(1.0), "{z}: {g} vs {want}");
        }
    }

    /// The Kriging believer: a point given at its posterior mean leaves the mean where it
    /// was (everywhere: the mean interpolates itself) and lowers the uncertainty there.
    #[test]
    fn a_believed_point_keeps_the_mean_and_lowers_the_uncertainty() {
        let xs = vec![vec![0.1, 0.2], vec![0.5, 0.9], vec![0.8, 0.4], vec![0.3, 0.6]];
        let ys = [1.0, 3.0, 2.0, 0.5];
        let hyper = Hyper {
            lengthscales: vec![0.4, 0.7],
            signal: 1.3,
            noise: 1e-6,
        };
        let gp = Fitted::fixed(&xs, &ys, hyper);
        let at = vec![vec![0.45, 0.5], vec![0.2, 0.3]];
        let (mu0, sd0) = gp.predict(&at);
        let believed = gp.believing(&[at[0].clone()]).unwrap();
        let (mu1, sd1) = believed.predict(&at);
        for (a, b) in mu0.iter().zip(&mu1) {
            assert!((a - b).abs() < 1e-6, "{mu0:?} {mu1:?}");
        }
        assert!(sd1[0] < 0.01 * sd0[0], "{sd0:?} {sd1:?}");
        assert!(sd1[1] <= sd0[1] + 1e-12, "{sd0:?} {sd1:?}");
    }

    /// The posterior and log EI with fixed hyperparameters, against NumPy (an explicit
    /// inverse, the Matérn 5/2 formula written out) and mpmath.
    #[test]
    fn posterior_and_log_ei_match_numpy() {
        let xs = vec![
            vec![0.1, 0.2],
            vec![0.5, 0.9],
            vec![0.8, 0.4],
            vec![0.3, 0.6],
        ];
        let ys = [1.0, 0.2, 0.7, 0.4];
        let gp = Fitted::fixed(
            &xs,
            &ys,
            Hyper {
                lengthscales: vec![0.3, 0.7],
                signal: 1.3,
                noise: 1e-3,
            },
        );
        let c = vec![vec![0.2, 0.3], vec![0.9, 0.9], vec![0.5, 0.5]];
        let (mu, sd) = gp.predict(&c);
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9 * b.abs().max(1.0);
        for (g, w) in mu.iter().zip([0.801546634746118, 0.614477787871213, 0.361605533202413]) {
            assert!(close(*g, w), "mean {g} vs {w}");
        }
        for (g, w) in sd.iter().zip([0.0919864021916302, 0.257657270740183, 0.172660677349861]) {
            assert!(close(*g, w), "sd {g} vs {w}");
        }
        let ei = gp.log_ei(&c, ys.iter().copied());
        for (g, w) in ei.iter().zip([-27.3148984173714, -3.9446579904524, -2.92743238252565]) {
            assert!((g - w).abs() < 1e-7 * w.abs(), "log ei {g} vs {w}");
        }
    }

    /// The fit raises the marginal likelihood above the starting hyperparameters', and the
    /// unit cube round-trips every kind of dimension.
    #[test]
    fn the_fit_improves_the_likelihood_and_the_cube_round_trips() {
        let xs: Vec<Vec<f64>> = (0..12).map(|i| vec![i as f64 / 11.0]).collect();
        let ys: Vec<f64> = xs.iter().map(|x| (6.0 * x[0]).sin()).collect();
        let nll = |h: &Hyper| {
            let st = standardised(&xs, &ys);
            let (ls, sig) = hyper_tensors(h);
            let noise = Tensor::from_slice(&[h.noise]).to_kind(Kind::Double);
            neg_log_likelihood(&st.x, &st.y, &ls, &sig, &noise)
                .unwrap()
                .double_value(&[])
        };
        let start = Hyper {
            lengthscales: vec![0.5],
            signal: 1.0,
            noise: 1e-2,
        };
        let fitted = Fitted::fit(&xs, &ys).unwrap();
        assert!(nll(&fitted.hyper) < nll(&start) - 1.0, "{:?}", fitted.hyper);
        let space = vec![
            ("lr".to_string(), Dist::LogUniform(1e-4, 1e-2)),
            ("ema".to_string(), Dist::Uniform(0.5, 0.9)),
            ("block_depth".to_string(), Dist::RandInt(1, 4)),
            ("loss".to_string(), Dist::Choice(vec!["mae".into(), "mse".into()])),
        ];
        let cube = Cube::new(&space);
        let p: Point = vec![
            ("lr".into(), Value::from(0.001)),
            ("ema".into(), Value::from(0.75)),
            ("block_depth".into(), Value::from(3)),
            ("loss".into(), Value::from("mse")),
        ];
        let x = cube.encode(&p);
        assert_eq!(x.len(), 5);
        assert_eq!(cube.decode(&x), p);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        for _ in 0..200 {
            let u = cube.uniform(&mut rng);
            let back = cube.encode(&cube.decode(&u));
            assert!((u[2] - back[2]).abs() < 1e-12, "integers on their grid");
            assert_eq!(u[3] + u[4], 1.0, "one value per list");
            let n = cube.near(&u, &mut rng);
            assert!(n.iter().all(|v| (0.0..=1.0).contains(v)));
        }
    }

    /// Drives a GP search of `trials` on a smooth function of (lr, depth, loss) with `q` in
    /// flight, finishing runs in the order `order` draws; returns the points in trial order.
    fn drive(sampler: &'static str, q: usize, order: u64) -> Vec<Point> {
        use super::super::search::{Outcome, Search, Trials};
        let space = vec![
            ("lr".to_string(), Dist::LogUniform(1e-4, 1e-2)),
            ("block_depth".to_string(), Dist::RandInt(1, 4)),
            ("loss".to_string(), Dist::Choice(vec!["mae".into(), "mse".into()])),
        ];
        let f = |p: &Point| {
            let lr = p[0].1.as_f64().unwrap();
            let d = p[1].1.as_f64().unwrap();
            (lr.ln() - (1e-3f64).ln()).powi(2)
                + 0.3 * (d - 3.0).powi(2)
                + if p[2].1.as_str() == Some("mse") { 0.0 } else { 0.5 }
        };
        let search = Search {
            sampler,
            metric: crate::metrics::names::Metric::named("image_loss").unwrap(),
            trials: 16,
            seed: 1,
            parallel: q,
            startup: 4,
            space,
            rung_model: false,
        };
        let mut t = Trials::new(search, "g");
        let mut outcomes: Vec<Outcome> = Vec::new();
        let mut flight: Vec<usize> = Vec::new();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(order);
        loop {
            while let Some(p) = {
                let known = outcomes.clone();
                t.decide(&|j| known.get(j).copied().unwrap_or(Outcome::Pending))
            } {
                let _ = p;
                flight.push(outcomes.len());
                outcomes.push(Outcome::Pending);
            }
            if flight.is_empty() {
                break;
            }
            let k = flight.remove(rng.random_range(0..flight.len()));
            outcomes[k] = Outcome::Told(Score::Completed(f(&t.points()[k])));
        }
        t.points().to_vec()
    }

    /// The same trials for any finishing order; after the 4 random ones, the GP's trials
    /// lie nearer the optimum's lr than random search's.
    #[test]
    fn the_gp_learns_and_keeps_the_contract() {
        let first = drive("gp", 2, 0);
        assert_eq!(first.len(), 16);
        for order in 1..8 {
            assert_eq!(drive("gp", 2, order), first, "order {order}");
        }
        let gp = drive("gp", 1, 0);
        let random = drive("random", 1, 0);
        assert_eq!(gp[..4], random[..4]);
        let err = |ps: &[Point]| {
            ps[8..]
                .iter()
                .map(|p| (p[0].1.as_f64().unwrap().ln() - (1e-3f64).ln()).abs())
                .sum::<f64>()
        };
        assert!(err(&gp) < err(&random), "gp {} random {}", err(&gp), err(&random));
    }

    fn ask_with<'a>(space: &'a [(String, Dist)], told: &'a [super::super::search::Told]) -> Ask<'a> {
        Ask {
            label: "t",
            seed: 1,
            trial: told.len(),
            space,
            told,
            pending: &[],
        }
    }

    /// Finite but extreme values, constant ones and ties give a valid point, never a panic
    /// (1e308 overflowed the standardisation to infinity, then NaN, and Cholesky panicked).
    #[test]
    fn extreme_constant_and_tied_values_give_a_valid_point() {
        use super::super::search::Told;
        let space = vec![
            ("lr".to_string(), Dist::LogUniform(1e-4, 1e-2)),
            ("loss".to_string(), Dist::Choice(vec!["mae".into(), "mse".into()])),
        ];
        let point = |lr: f64, loss: &str| -> Point {
            vec![("lr".into(), Value::from(lr)), ("loss".into(), Value::from(loss))]
        };
        let cases: [&[f64]; 6] = [
            &[1e308, 1e308],
            &[1e308, -1e308, 1.0],
            &[f64::MAX, f64::MIN_POSITIVE],
            &[5e-324, 1e-320],
            &[0.25, 0.25, 0.25],
            &[1.0, 2.0, 1.0, 2.0],
        ];
        for values in cases {
            let told: Vec<Told> = values
                .iter()
                .enumerate()
                .map(|(k, v)| Told {
                    trial: k,
                    point: point(1e-3 * (1.0 + k as f64), if k % 2 == 0 { "mae" } else { "mse" }),
                    score: Score::Completed(*v),
                })
                .collect();
            let p = Gp.suggest(&ask_with(&space, &told));
            let lr = p[0].1.as_f64().unwrap();
            assert!((1e-4..=1e-2).contains(&lr), "{values:?}: lr {lr}");
            assert!(["mae", "mse"].contains(&p[1].1.as_str().unwrap()), "{values:?}");
        }
    }

    /// The standardisation divides extreme values by a power of two first: finite, and the
    /// same standardised values as ordinary ones a power of two apart.
    #[test]
    fn standardisation_of_extreme_values_is_finite_and_exact() {
        let xs = vec![vec![0.0], vec![1.0]];
        let big = standardised(&xs, &[1e308, 5e307]);
        let small = standardised(&xs, &[2.0, 1.0]);
        assert!(big.mean.is_finite() && big.std.is_finite() && big.scale.is_finite());
        let (a, b) = (Vec::<f64>::try_from(&big.y).unwrap(), Vec::<f64>::try_from(&small.y).unwrap());
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-12, "{a:?} {b:?}");
        }
        assert_eq!(standardised(&xs, &[2.0, 1.0]).scale, 1.0, "ordinary values unscaled");
    }

    /// A list longer than the GP's bound is refused with what to write instead.
    #[test]
    fn a_list_too_long_for_one_hot_is_refused() {
        let long: Vec<Value> = (0..20_000).map(Value::from).collect();
        let space = vec![("seed".to_string(), Dist::Choice(long))];
        let why = Gp.check_space(&space).unwrap_err();
        assert!(why.starts_with("seed: a list of 20000 values"), "{why}");
        assert!(why.contains("randint(low, high)"), "{why}");
        let short = vec![("seed".to_string(), Dist::Choice(vec![1.into(), 2.into()]))];
        assert!(Gp.check_space(&short).is_ok());
    }
}
