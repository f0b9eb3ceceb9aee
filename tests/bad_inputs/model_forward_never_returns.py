"""A forward pass that never returns (torch.fx runs it while tracing)."""
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)

    def forward(self, x):
        while True:
            pass
