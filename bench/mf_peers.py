"""The multi-fidelity benchmark's peers (bench/multi_fidelity.sh runs it): Optuna 5's TPE with
its HyperbandPruner and with its SuccessiveHalvingPruner (reduction 3, resource 1..100), and
DEHB 0.1.2, on mf-prior-bench 1.10's MFHartmann functions and BOCA's multi-fidelity Branin
(`mfbranin`, defined below as in examples/shared/functions.rs), sequentially (one worker), each
until BUDGET fidelity units are spent (a pruned trial costs the fidelity it reached; a DEHB
evaluation costs its fidelity). Prints JSON: {function: {method: [[(spent, best), ...] per seed]}}
where best is the best value among evaluations at the maximum fidelity 100 so far.

    python bench/mf_peers.py SEEDS BUDGET FUNCTIONS OUT.json
"""
import json
import shutil
import tempfile
import math
import sys
import warnings

warnings.filterwarnings("ignore")
import logging

import mfpbench
import optuna
from dehb import DEHB
from loguru import logger

logger.remove()  # DEHB logs through loguru, to stdout

optuna.logging.set_verbosity(optuna.logging.WARNING)
logging.disable(logging.WARNING)

R, ETA = 100, 3
RUNGS = [1, 3, 9, 27, 81]


class Result:
    def __init__(self, error):
        self.error = error


class MFBranin:
    """Branin at fidelity s = ln z / ln 100 as Kandasamy et al. 2017 (BOCA, ICML) define it with
    every fidelity coordinate equal to s, on [0, 1]^2 scaled to [-5, 10] x [0, 15]; no noise."""

    def __init__(self, seed):
        import ConfigSpace
        self.space = ConfigSpace.ConfigurationSpace(
            {"X_0": (0.0, 1.0), "X_1": (0.0, 1.0)}, seed=seed)

    @staticmethod
    def value(x0, x1, z):
        s = math.log(z) / math.log(R)
        b = 5.1 / (4 * math.pi ** 2) - 0.01 * (1 - s)
        c = 5 / math.pi - 0.1 * (1 - s)
        t = 1 / (8 * math.pi) + 0.05 * (1 - s)
        x1_, x2_ = -5 + 15 * x0, 15 * x1
        return (x2_ - b * x1_ ** 2 + c * x1_ - 6) ** 2 + 10 * (1 - t) * math.cos(x1_) + 10

    def query(self, cfg, at):
        return Result(self.value(cfg["X_0"], cfg["X_1"], at))


def bench_named(name, seed):
    return MFBranin(seed) if name == "mfbranin" else mfpbench.get(name, seed=seed)


def optuna_run(name, seed, budget, pruner):
    bench = bench_named(name, seed)
    d = len(bench.space.get_hyperparameters())
    # Named: HyperbandPruner assigns brackets by a hash of the study's name and the trial
    # number, so an unnamed study (a random name) is not reproducible even with a seed.
    study = optuna.create_study(study_name=f"{name}-{seed}",
                                sampler=optuna.samplers.TPESampler(seed=seed), pruner=pruner())
    spent, best, log = 0, math.inf, []
    while spent < budget:
        t = study.ask()
        cfg = {f"X_{i}": t.suggest_float(f"X_{i}", 0.0, 1.0) for i in range(d)}
        pruned = False
        for z in RUNGS:
            v = bench.query(cfg, at=z).error
            t.report(v, z)
            if t.should_prune():
                spent += z
                study.tell(t, state=optuna.trial.TrialState.PRUNED)
                pruned = True
                break
        if not pruned:
            v = bench.query(cfg, at=R).error
            spent += R
            study.tell(t, v)
            best = min(best, v)
        log.append((spent, best if best < math.inf else None))
    return log


def dehb_run(name, seed, budget):
    bench = bench_named(name, seed)
    cs = bench.space
    tmp = tempfile.mkdtemp(prefix="dehb-")
    d = DEHB(cs=cs, dimensions=len(cs.get_hyperparameters()), min_fidelity=1, max_fidelity=R,
             eta=ETA, n_workers=1, seed=seed, output_path=tmp,
             save_freq=None)
    spent, best, log = 0, math.inf, []
    while spent < budget:
        job = d.ask()
        z = int(round(job["fidelity"]))
        cfg = dict(job["config"])
        v = bench.query(cfg, at=z).error
        d.tell(job, {"fitness": v, "cost": z})
        spent += z
        if z >= R:
            best = min(best, v)
        log.append((spent, best if best < math.inf else None))
    shutil.rmtree(tmp, ignore_errors=True)
    return log


def main():
    seeds, budget, functions = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].split(",")
    methods = {
        "optuna-tpe+hyperband": lambda n, s: optuna_run(
            n, s, budget, lambda: optuna.pruners.HyperbandPruner(1, R, ETA)),
        "optuna-tpe+sha": lambda n, s: optuna_run(
            n, s, budget, lambda: optuna.pruners.SuccessiveHalvingPruner(1, ETA)),
        "dehb": lambda n, s: dehb_run(n, s, budget),
    }
    out = {}
    for f in functions:
        out[f] = {m: [run(f, s) for s in range(seeds)] for m, run in methods.items()}
        print(f"peers: {f} done", file=sys.stderr)
    with open(sys.argv[4], "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
