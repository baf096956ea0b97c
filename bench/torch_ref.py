"""The seed's DDIM in Python PyTorch, for the speed benchmark: the same architecture (its
parameter count must equal ddim-sweep's), normaliser, AdamW and training step, on images held
in memory as uint8 (as ddim-sweep's cache), timed over the same number of steps.

usage: torch_ref.py --steps S --batch B --size N [--device cpu|cuda] [--widths 32,64,96,128]
                   [--precision fp32|bf16] [--channels-last]
bf16 runs the training forward pass under torch.autocast(bfloat16), as ddim-sweep's
precision=bf16 does; --channels-last puts the model and inputs in channels-last memory format.
Prints one JSON line: parameters, images_per_s, samples_per_s, threads.
"""
import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Residual(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.norm = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.res = nn.Conv2d(cin, cout, 1)

    def forward(self, x):
        return self.res(x) + self.conv2(F.silu(self.conv1(self.norm(x))))


class UNet(nn.Module):
    def __init__(self, cin, cout, widths, depth):
        super().__init__()
        ch, skips = cin, []
        self.down = nn.ModuleList()
        for w in widths:
            level = nn.ModuleList()
            for _ in range(depth):
                level.append(Residual(ch, w))
                ch = w
                skips.append(w)
            self.down.append(level)
        self.middle = nn.ModuleList([Residual(widths[-1], 2 * widths[-1]), Residual(2 * widths[-1], widths[-1])])
        ch = widths[-1]
        rev = list(reversed(widths))
        self.up = nn.ModuleList()
        for k in range(len(rev)):
            out = rev[k + 1] if k + 1 < len(rev) else cout
            level = nn.ModuleList()
            for _ in range(depth):
                level.append(Residual(ch + skips.pop(), out))
                ch = out
            self.up.append(level)

    def forward(self, x):
        skips = []
        for level in self.down:
            for b in level:
                x = b(x)
                skips.append(x)
            x = F.avg_pool2d(x, 2)
        for b in self.middle:
            x = b(x)
        for level in self.up:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
            for b in level:
                x = b(torch.cat([x, skips.pop()], 1))
        return x


class Net(nn.Module):
    def __init__(self, widths, depth=2, emb=32):
        super().__init__()
        self.emb = emb
        freqs = torch.exp(torch.linspace(math.log(1.0), math.log(1000.0), emb // 2))
        self.register_buffer("speeds", (2 * math.pi * freqs).reshape(1, -1, 1, 1))
        self.conv_in = nn.Conv2d(3, emb, 1)
        self.unet = UNet(2 * emb, emb, widths, depth)
        self.conv_out = nn.Conv2d(emb, 3, 1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, x, v):
        e = self.speeds * v
        e = torch.cat([torch.sin(e), torch.cos(e)], 1).expand(-1, -1, x.shape[2], x.shape[3])
        return self.conv_out(self.unet(torch.cat([self.conv_in(x), e], 1)))


def rates(t, lo=0.02, hi=0.95):
    a0, a1 = math.acos(hi), math.acos(lo)
    ang = a0 + t * (a1 - a0)
    return torch.cos(ang), torch.sin(ang)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--device", default="cpu")
    p.add_argument("--widths", default="32,64,96,128")
    p.add_argument("--sample-n", type=int, default=16)
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("--channels-last", action="store_true")
    a = p.parse_args()
    fmt = torch.channels_last if a.channels_last else torch.contiguous_format
    dev = torch.device(a.device)
    torch.manual_seed(1)
    net = Net([int(w) for w in a.widths.split(",")]).to(dev, memory_format=fmt)
    params = sum(p.numel() for p in net.parameters())
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-4)
    data = torch.randint(0, 256, (2048, 3, a.size, a.size), dtype=torch.uint8, device=dev)
    means = torch.zeros(1, 3, 1, 1, device=dev)
    stds = torch.ones(1, 3, 1, 1, device=dev)
    seen = 0
    sync = (lambda: torch.cuda.synchronize()) if dev.type == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    for step in range(a.steps):
        idx = torch.randint(0, data.shape[0], (a.batch,), device=dev)
        x = data.index_select(0, idx).float() / 255.0
        if step < 55:  # the streaming normaliser
            with torch.no_grad():
                n = x.shape[0]
                tot = seen + n
                w = n / tot
                bm = x.mean((0, 2, 3), keepdim=True)
                bv = x.var((0, 2, 3), keepdim=True)
                corr = n * seen / tot**2 * (means - bm) ** 2
                stds = ((1 - w) * stds**2 + w * bv + corr).sqrt()
                means = (1 - w) * means + w * bm
                seen = tot
        x = ((x - means) / stds).contiguous(memory_format=fmt)
        t = torch.rand(a.batch, 1, 1, 1, device=dev)
        s, nr = rates(t)
        noise = torch.randn_like(x)
        noisy = s * x + nr * noise
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=a.precision == "bf16"):
            pred = net(noisy, nr**2)
        pred = pred.float()
        loss = (pred - noise).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            _ = (pred - noise).abs().mean(), ((noisy - nr * pred) / s - x).abs().mean()
    sync()
    train_s = time.perf_counter() - start
    # sampling: 20 steps (19 evaluations), eval mode
    net.eval()
    with torch.no_grad():
        z = torch.randn(a.sample_n, 3, a.size, a.size, device=dev).contiguous(memory_format=fmt)
        sync()
        s0 = time.perf_counter()
        steps = 20
        s, nr = rates(torch.ones(a.sample_n, 1, 1, 1, device=dev))
        for k in range(1, steps):
            pn = net(z, nr**2)
            pi = (z - nr * pn) / s
            s, nr = rates(torch.full((a.sample_n, 1, 1, 1), 1 - k / (steps - 1), device=dev))
            z = s * pi + nr * pn
        sync()
        sample_s = time.perf_counter() - s0
    print(json.dumps({"parameters": params, "images_per_s": a.steps * a.batch / train_s, "samples_per_s": a.sample_n / sample_s, "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
