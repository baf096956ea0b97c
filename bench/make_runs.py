"""Generates N run directories with known metrics and per-epoch scalars (no weights), the
input of the report benchmark: make_runs.py RUNS_DIR N"""
import json
import os
import random
import sys

runs, n = sys.argv[1], int(sys.argv[2])
sweep = os.path.join(runs, "bench")
os.makedirs(sweep, exist_ok=True)
random.seed(1)
entries = []
for i in range(n):
    rid = f"{i:012x}"
    d = os.path.join(sweep, rid)
    os.makedirs(d, exist_ok=True)
    lr = 10 ** -(2 + (i % 10) / 3)
    seed = i // 10
    with open(os.path.join(d, "flags.yaml"), "w") as f:
        f.write(f"dataset_name: shapes\nlr: {lr}\nseed: {seed}\n")
    metrics = {"noise_loss": random.random(), "image_loss": random.random(), "kid": random.random() / 5}
    with open(os.path.join(d, "run.json"), "w") as f:
        json.dump({"status": "completed", "label": "bench", "metrics": metrics, "seconds": 60.0}, f)
    with open(os.path.join(d, "scalars.csv"), "w") as f:
        f.write("epoch,step,loss,noise_loss,image_loss,val_noise_loss,val_image_loss,val_kid,seconds,images_per_s\n")
        for e in range(1, 51):
            v = 1 / e + random.random() * 0.01
            f.write(f"{e},{e * 100},{v},{v},{v},{v},{v},,1.0,100\n")
    entries.append({"id": rid, "varying": {"lr": str(lr), "seed": str(seed)}})
with open(os.path.join(sweep, "sweep.json"), "w") as f:
    json.dump({"label": "bench", "varying": ["lr", "seed"], "runs": entries, "invocations": []}, f)
