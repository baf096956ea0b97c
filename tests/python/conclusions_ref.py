"""Independent check of `report --format json`'s configs and effects: recomputes them with
SciPy from the runs' run.json files (their `name`, the varying flags, and final `metrics`).

usage: conclusions_ref.py SWEEP_DIR  ->  JSON {"configs": {KEY: {METRIC: {mean, std, lo, hi, n}}},
                                               "effects": {FLAG|A|B|METRIC: {pairs, mean_diff, lo, hi, a_better, pairs_for_power}}}

pairs_for_power: the smallest n whose two-sided 5% paired t-test has power 0.8 against the observed
mean difference and sd, from the noncentral t (exact, not the report's approximation).
"""
import glob
import itertools
import json
import os
import sys

import numpy as np
from scipy import stats

METRICS = ["noise_loss", "image_loss", "kid"]


def pairs_for_power(mean, sd):
    if mean == 0 or sd is None:
        return None
    if sd == 0:
        return 2
    d = abs(mean) / sd
    n = 2
    while n <= 10_000_000:
        df = n - 1
        tc = stats.t.ppf(0.975, df)
        nc = d * np.sqrt(n)
        power = 1 - stats.nct.cdf(tc, df, nc) + stats.nct.cdf(-tc, df, nc)
        if power >= 0.8:
            return n
        # Far from the answer: jump by the normal approximation's step.
        n = max(n + 1, int(((1.959964 + 0.841621) / d) ** 2) if n == 2 else n + 1)
    return None


def flags_of(info):
    return dict(p.split("=", 1) for p in info["name"].split(","))


def interval(xs):
    xs = np.asarray(xs, dtype=np.float64)
    n = len(xs)
    m = float(xs.mean())
    if n < 2:
        return dict(n=n, mean=m, std=None, lo=None, hi=None)
    s = float(xs.std(ddof=1))
    half = float(stats.t.ppf(0.975, n - 1)) * s / np.sqrt(n)
    return dict(n=n, mean=m, std=s, lo=m - half, hi=m + half)


runs = []
for path in sorted(glob.glob(os.path.join(sys.argv[1], "*", "run.json"))):
    info = json.load(open(path))
    if info["status"] == "completed":
        runs.append((flags_of(info), info["metrics"]))

configs = {}
for flags, metrics in runs:
    key = ",".join(f"{k}={v}" for k, v in sorted(flags.items()) if k != "seed")
    configs.setdefault(key, []).append(metrics)
out_configs = {
    key: {m: interval([x[m] for x in ms if m in x]) for m in METRICS if any(m in x for x in ms)}
    for key, ms in configs.items()
}

out_effects = {}
names = sorted({k for flags, _ in runs for k in flags if k != "seed"})
for flag in names:
    values = sorted({flags[flag] for flags, _ in runs})
    for a, b in itertools.permutations(values, 2):
        for m in METRICS:
            pairs = []
            for fa, ma in runs:
                if fa[flag] != a or m not in ma:
                    continue
                for fb, mb in runs:
                    same = all(fb[k] == v for k, v in fa.items() if k != flag)
                    if fb[flag] == b and same and m in mb:
                        pairs.append((ma[m], mb[m]))
            if not pairs:
                continue
            d = [x - y for x, y in pairs]
            r = interval(d)
            out_effects[f"{flag}|{a}|{b}|{m}"] = dict(
                pairs=len(pairs), mean_diff=r["mean"], lo=r["lo"], hi=r["hi"],
                a_better=sum(1 for x, y in pairs if x < y),
                pairs_for_power=pairs_for_power(r["mean"], r["std"]),
                p_less=float(stats.ttest_rel([x for x, _ in pairs], [y for _, y in pairs], alternative="less").pvalue) if len(pairs) > 1 else None,
            )

print(json.dumps(dict(configs=out_configs, effects=out_effects)))
