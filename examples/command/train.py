"""A small PyTorch training script run by ddim-sweep (see docs/programs.md).

It is an ordinary argparse program: ddim-sweep passes each flag as --name=value (a true
boolean as a bare --name), starts it in its run folder, and reads the `name: value` lines it
prints. It checkpoints to ./checkpoint.pt (the run folder) and, when ddim-sweep restarts an
interrupted run (DDIM_RESUME=1), continues from it. CPU, a few seconds per run.
"""
import argparse
import os

import torch
from torch import nn

p = argparse.ArgumentParser()
p.add_argument("--lr", type=float, default=1e-2)
p.add_argument("--width", type=int, default=32)
p.add_argument("--epochs", type=int, default=20)
p.add_argument("--weight_decay", type=float, default=0.0)
p.add_argument("--batchnorm", action="store_true")
a = p.parse_args()

seed = int(os.environ.get("DDIM_SEED", "1"))
torch.manual_seed(seed)
torch.set_num_threads(1)

# Two noisy interleaved spirals: 2-D points, 2 classes (the data is made, not downloaded).
g = torch.Generator().manual_seed(0)
n = 2000
t = torch.rand(n, generator=g) * 3 * torch.pi
cls = torch.randint(0, 2, (n,), generator=g)
r = t / (3 * torch.pi)
angle = t + cls * torch.pi
x = torch.stack([r * torch.cos(angle), r * torch.sin(angle)], 1)
x = x + 0.04 * torch.randn(n, 2, generator=g)
train_x, valid_x = x[:1600], x[1600:]
train_y, valid_y = cls[:1600], cls[1600:]

layers = [nn.Linear(2, a.width)]
if a.batchnorm:
    layers.append(nn.BatchNorm1d(a.width))
layers += [nn.ReLU(), nn.Linear(a.width, a.width), nn.ReLU(), nn.Linear(a.width, 2)]
model = nn.Sequential(*layers)
opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=a.weight_decay)

start = 1
if os.environ.get("DDIM_RESUME") == "1" and os.path.exists("checkpoint.pt"):
    state = torch.load("checkpoint.pt")
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["opt"])
    torch.set_rng_state(state["rng"])
    start = state["epoch"] + 1
    print(f"resuming after epoch {state['epoch']}")

for epoch in range(start, a.epochs + 1):
    model.train()
    perm = torch.randperm(len(train_x))
    for i in range(0, len(perm), 64):
        idx = perm[i : i + 64]
        loss = nn.functional.cross_entropy(model(train_x[idx]), train_y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        logits = model(valid_x)
        val_loss = nn.functional.cross_entropy(logits, valid_y).item()
        accuracy = (logits.argmax(1) == valid_y).float().mean().item()
    print(f"epoch: {epoch}")
    print(f"val_loss: {val_loss:.6f}")
    print(f"accuracy: {accuracy:.4f}")
    tmp = "checkpoint.pt.tmp"
    torch.save(
        {"model": model.state_dict(), "opt": opt.state_dict(), "rng": torch.get_rng_state(), "epoch": epoch},
        tmp,
    )
    os.replace(tmp, "checkpoint.pt")
