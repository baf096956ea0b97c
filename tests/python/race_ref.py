"""Independent check of a race's decisions: replays the race with SciPy from the sweep's plan
(sweep.json's `runs`: id and varying flags) and the runs' run.json files (status, metrics).

usage: race_ref.py SWEEP_DIR METRIC MIN_SEEDS ALPHA SEED...
  ->  JSON {"decisions": [{round, config, n, mean, p, p_holm, eliminated}], "survivors": [config],
            "runs_used": N, "finished": bool}
where config is "flag=value,..." sorted by flag (every varying flag but seed).
"""
import json
import os
import sys

import numpy as np
from scipy import stats

sweep_dir, metric, min_seeds, alpha = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
seeds = sys.argv[5:]

plan = json.load(open(os.path.join(sweep_dir, "sweep.json")))
configs = []  # in plan order
run_of = {}  # (config, seed) -> id
for entry in plan["runs"]:
    v = entry["varying"]
    key = ",".join(f"{k}={v[k]}" for k in sorted(v) if k != "seed")
    if key not in configs:
        configs.append(key)
    run_of[(key, v["seed"])] = entry["id"]


def outcome(run_id):
    path = os.path.join(sweep_dir, run_id, "run.json")
    if not os.path.exists(path):
        return "pending", None
    info = json.load(open(path))
    if info["status"] == "completed":
        return "value", info["metrics"][metric]
    if info["status"] in ("failed", "stopped"):
        return "out", None
    return "pending", None


def holm(p):
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    out, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


alive = list(configs)
values = {c: [] for c in configs}
decisions, used, finished = [], 0, False
for r, seed in enumerate(seeds, start=1):
    if len(alive) <= 1:
        break
    used += len(alive)
    pending = False
    for c in list(alive):
        kind, x = outcome(run_of[(c, seed)])
        if kind == "value":
            values[c].append(x)
        elif kind == "out":
            alive.remove(c)
            decisions.append(dict(round=r, config=c, n=len(values[c]), mean=None, p=None, p_holm=None, eliminated=True))
        else:
            pending = True
    if pending:
        break
    means = {c: float(np.mean(values[c])) for c in alive}
    best = min(alive, key=lambda c: means[c])
    others = [c for c in alive if c != best]
    tested = r >= min_seeds and others
    ps = [float(stats.ttest_rel(values[best], values[c], alternative="less").pvalue) for c in others] if tested else []
    ps = [1.0 if np.isnan(p) else p for p in ps]
    adj = holm(ps) if tested else []
    for c in alive:
        d = dict(round=r, config=c, n=len(values[c]), mean=means[c], p=None, p_holm=None, eliminated=False)
        if tested and c != best:
            k = others.index(c)
            d.update(p=ps[k], p_holm=adj[k], eliminated=adj[k] < alpha)
        decisions.append(d)
    alive = [c for c in alive if not any(d["config"] == c and d["eliminated"] for d in decisions)]
else:
    finished = True
if len(alive) <= 1:
    finished = True

print(json.dumps(dict(decisions=decisions, survivors=alive, runs_used=used, finished=finished)))
