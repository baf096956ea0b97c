"""Optuna's TPESampler on the search benchmark's functions (bench/search.sh), with the same
simulated executor as examples/search_bench.rs: q workers, each trial's duration uniform on
[0.5, 1.5] (numpy's stream seeded by (seed, trial)), a trial asked as soon as a worker is free
(Optuna does not wait: constant_liar marks the trials in flight). Prints a JSON list of
{function, q, seed, best: [best value after each trial]}.

usage: search_optuna.py SEEDS TRIALS
"""
import json
import math
import sys

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

optuna.logging.set_verbosity(optuna.logging.WARNING)


def branin(p):
    x1, x2 = p["x1"], p["x2"]
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
              [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]])
P = np.array([[0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
              [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
              [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
              [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381]])
ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def hartmann6(p):
    x = np.array([p[f"x{i}"] for i in range(1, 7)])
    return float(-(ALPHA * np.exp(-(A * (x - P) ** 2).sum(axis=1))).sum())


def mixed(p):
    k = {"a": 0.5, "b": 0.0, "c": 1.0}[p["kind"]]
    return (math.log10(p["lr"]) + 2.5) ** 2 + 0.1 * (p["depth"] - 5) ** 2 + k + (p["u"] - 0.3) ** 2


FUNCTIONS = {
    "branin": (branin, {"x1": FloatDistribution(-5, 10), "x2": FloatDistribution(0, 15)}),
    "hartmann6": (hartmann6, {f"x{i}": FloatDistribution(0, 1) for i in range(1, 7)}),
    "mixed": (mixed, {"lr": FloatDistribution(1e-4, 1e-1, log=True), "depth": IntDistribution(1, 8),
                      "kind": CategoricalDistribution(["a", "b", "c"]), "u": FloatDistribution(0, 1)}),
}


def duration(seed, trial):
    return 0.5 + np.random.RandomState(seed * 1_000_003 + trial).uniform()


def simulate(f, space, q, seed, trials):
    sampler = optuna.samplers.TPESampler(multivariate=True, constant_liar=True, seed=seed)
    study = optuna.create_study(sampler=sampler)
    running, values, now, asked = [], [], 0.0, 0
    while True:
        while len(running) < q and asked < trials:
            t = study.ask(space)
            v = f(t.params)
            values.append(v)
            running.append((now + duration(seed, asked), asked, t, v))
            asked += 1
        if not running:
            break
        running.sort(key=lambda r: (r[0], r[1]))
        end, _, t, v = running.pop(0)
        now = end
        study.tell(t, v)
    return list(np.minimum.accumulate(values))


def main():
    seeds, trials = int(sys.argv[1]), int(sys.argv[2])
    out = []
    for name, (f, space) in FUNCTIONS.items():
        for q in (1, 4):
            for seed in range(seeds):
                out.append({"function": name, "q": q, "seed": seed,
                            "best": simulate(f, space, q, seed, trials)})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
