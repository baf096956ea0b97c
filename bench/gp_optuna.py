"""Optuna 5's GPSampler (defaults, seeded) on Branin and Hartmann6, sequentially (q = 1), for
the GP comparison of bench/gp.sh: per seed, the best value after each trial and the seconds
each `study.ask()` took (the suggestion, the model's fit included). The functions and spaces
are bench/search_optuna.py's. Prints a JSON list of {function, seed, best, ask_s}.

usage: gp_optuna.py SEEDS TRIALS
"""
import json
import sys
import time

import numpy as np
import optuna

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from search_optuna import FUNCTIONS  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.WARNING)


def run(f, space, seed, trials):
    study = optuna.create_study(study_name=f"gp-{seed}", sampler=optuna.samplers.GPSampler(seed=seed))
    values, ask_s = [], []
    for _ in range(trials):
        start = time.perf_counter()
        t = study.ask(space)
        ask_s.append(time.perf_counter() - start)
        v = f(t.params)
        values.append(v)
        study.tell(t, v)
    return list(np.minimum.accumulate(values)), ask_s


def main():
    seeds, trials = int(sys.argv[1]), int(sys.argv[2])
    out = []
    for name in ("branin", "hartmann6"):
        f, space = FUNCTIONS[name]
        for seed in range(seeds):
            best, ask_s = run(f, space, seed, trials)
            out.append({"function": name, "seed": seed, "best": best, "ask_s": ask_s})
        print(f"optuna gp: {name} done", file=sys.stderr)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
