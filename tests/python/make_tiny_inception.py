"""Writes a tiny TorchScript stand-in for the Inception network: same interface
((N, 3, 299, 299) in [-1, 1] -> (N, 2048)), a few thousand parameters, fast on a CPU.

usage: make_tiny_inception.py OUT.pt
"""
import sys

import torch


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 16, kernel_size=8, stride=8)
        self.fc = torch.nn.Linear(16, 2048)

    def forward(self, x):
        h = torch.relu(self.conv(x))
        h = torch.nn.functional.adaptive_avg_pool2d(h, 1).flatten(1)
        return torch.relu(self.fc(h))


m = Tiny().eval()
with torch.no_grad():
    traced = torch.jit.trace(m, torch.zeros(2, 3, 299, 299))
traced.save(sys.argv[1])
print("{}")
