"""3,000 nested nn.Sequential: torch's own recursive walks hit Python's recursion limit."""
import torch.nn as nn


def make():
    m = nn.Conv2d(3, 8, 3)
    for _ in range(3000):
        m = nn.Sequential(m)
    return m
