"""Reads every scalar of the TensorBoard event files under a folder with TensorBoard's own
event accumulator; prints {tag: [[step, value], ...]} as JSON.

usage: tb_scalars.py DIR
"""
import json
import math
import sys

from tensorboard.backend.event_processing import event_accumulator as ea

acc = ea.EventAccumulator(sys.argv[1], size_guidance={ea.SCALARS: 0})
acc.Reload()
out = {}
for tag in acc.Tags()["scalars"]:
    out[tag] = [
        [e.step, e.value if math.isfinite(e.value) else str(e.value)]
        for e in acc.Scalars(tag)
    ]
print(json.dumps(out))
